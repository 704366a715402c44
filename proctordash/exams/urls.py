from django.urls import path

from proctordash.exams import views

CONFIG = "courses/<str:course_sid>/exams/<str:exam_sid>/configurations/<str:configuration_sid>/"

urlpatterns = [
    path("exams/", views.index, name="index"),
    path("exams/history/", views.history, name="history"),
    path("exams/bulk/", views.bulk, name="bulk"),
    path("exams/bulk/<int:bulk_id>/", views.bulk_detail, name="bulk_detail"),
    path("exams/bulk/<int:bulk_id>/apply", views.bulk_apply, name="bulk_apply"),
    path("exams/bulk/<int:bulk_id>/progress", views.bulk_progress, name="bulk_progress"),
    path("exams/bulk/<int:bulk_id>/cancel", views.bulk_cancel, name="bulk_cancel"),
    path("courses/<str:course_sid>/exams/new", views.exam_new, name="new"),
    path("courses/<str:course_sid>/exams/new/validate", views.exam_new_validate, name="new_validate"),
    path("courses/<str:course_sid>/exams/creations/<str:key>/", views.creation, name="creation"),
    path("courses/<str:course_sid>/exams/accommodations/", views.accommodations, name="accommodations"),
    path(CONFIG, views.configuration, name="configuration"),
    path(CONFIG + "validate", views.configuration_validate, name="configuration_validate"),
    path(CONFIG + "saves/<uuid:save_id>/", views.configuration_save_status, name="configuration_save"),
]
