from django.urls import path

from proctordash.appointments import views

urlpatterns = [
    path("", views.appointment_list, name="list"),
    path("export.csv", views.appointment_export, name="export"),
    path("review/", views.review_queue, name="review"),
    path("views/", views.saved_view_save, name="saved_view_save"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("<str:sid>/", views.appointment_detail, name="detail"),
    path("<str:sid>/sessions/", views.appointment_sessions, name="sessions"),
]
