from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from proctordash.accounts.models import CourseAssignment, StaffProfile

User = get_user_model()


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False


class CourseAssignmentInline(admin.TabularInline):
    model = CourseAssignment
    extra = 1


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    inlines = [StaffProfileInline, CourseAssignmentInline]
    list_display = ["username", "email", "is_active", "staff_role"]

    @admin.display(description="Role")
    def staff_role(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.get_role_display() if profile else "—"
