from django.contrib.auth.views import LogoutView
from django.urls import include, path

from proctordash.devidp import views

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", views.login, name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("_devidp/<str:name>", views.control),
]
