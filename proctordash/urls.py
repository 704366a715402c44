from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from proctordash.accounts import views as accounts_views

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", include("proctordash.accounts.urls")),
    path("admin/", admin.site.urls),
    # feature apps add their include() lines below
    path("", include(("proctordash.monitoring.urls", "monitoring"))),  # /monitor/…, /health/…, /healthz
    # before appointments/<sid>/: the learner lookup has its own app (it reads both vendors' caches)
    path("appointments/learners/", include(("proctordash.learners.urls", "learners"))),
    path("appointments/", include(("proctordash.appointments.urls", "appointments"))),
    path("", include(("proctordash.exams.urls", "exams"))),  # /exams/…, /courses/<courseSid>/exams/…
]

# 404/403/500 use Django's views with templates/404.html, 403.html, 500.html; 400 renders in the layout too.
handler400 = "proctordash.core.views.bad_request"
