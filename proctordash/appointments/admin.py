"""The Django admin changelist of the cache: the peer the benchmark compares the appointment list with (read-only)."""

from django.contrib import admin

from proctordash.appointments.models import Appointment


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ["sid", "appointment_date", "learner_first_name", "learner_last_name", "learner_email",
                    "course_title", "exam_title", "session_type", "status", "review_status", "review_by_date",
                    "session_report_count"]
    list_filter = ["status", "session_type", "review_status", "exam_status"]
    search_fields = ["learner_last_name", "learner_email", "course_title", "exam_title"]
    ordering = ["appointment_date", "sid"]
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False
