from django.urls import path

from proctordash.monitoring import views

urlpatterns = [
    path("monitor/", views.monitor, name="monitor"),
    path("monitor/poll/", views.monitor_poll, name="poll"),
    path("monitor/sessions/<int:session_id>/", views.session_detail, name="session"),
    path("monitor/readiness/", views.readiness, name="readiness"),
    path("monitor/readiness/export.csv", views.readiness_export, name="readiness_export"),
    path("health/", views.health, name="health"),
    path("health/refresh/", views.health_refresh, name="health_refresh"),
    path("health/runs/<int:run_id>/", views.health_run, name="health_run"),
    path("healthz", views.healthz, name="healthz"),
]
