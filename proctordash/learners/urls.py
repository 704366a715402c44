from django.urls import path

from proctordash.learners import views

urlpatterns = [
    path("", views.lookup, name="lookup"),
    path("person/", views.person, name="person"),
]
