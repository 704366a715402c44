from django.contrib import admin
from django.urls import include, path

from proctordash.accounts import views as accounts_views
from proctordash.ops import metrics as ops_metrics

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("login/", accounts_views.login, name="login"),
    path("logout/", accounts_views.logout, name="logout"),
    path("oidc/authenticate/", accounts_views.oidc_start, name="oidc_authentication_init"),
    path("oidc/callback/", accounts_views.oidc_callback, name="oidc_callback"),
    path("profile/", include("proctordash.accounts.urls")),
    path("admin/", admin.site.urls),
    path("metrics", ops_metrics.metrics, name="metrics"),  # Prometheus; token or allow-list (proctordash/ops)
    # feature apps add their include() lines below
    path("", include(("proctordash.monitoring.urls", "monitoring"))),  # /monitor/…, /health/…, /healthz
    # before appointments/<sid>/: the learner lookup has its own app (it reads both vendors' caches)
    path("appointments/learners/", include(("proctordash.learners.urls", "learners"))),
    path("appointments/", include(("proctordash.appointments.urls", "appointments"))),
    path("", include(("proctordash.exams.urls", "exams"))),  # /exams/…, /courses/<courseSid>/exams/…
]

# 404/403/500 use Django's views with templates/404.html, 403.html, 500.html; 400 renders in the layout too.
handler400 = "proctordash.core.views.bad_request"
