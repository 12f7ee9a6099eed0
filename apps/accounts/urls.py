from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("account/second-factor/", views.second_factor, name="second-factor"),
]
