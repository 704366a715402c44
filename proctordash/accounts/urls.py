from django.urls import path

from proctordash.accounts import views

urlpatterns = [path("", views.profile, name="profile")]
