from django.urls import path

from . import views

app_name = "sequences"
urlpatterns = [
    path("prospects/", views.prospect_list, name="prospect-list"),
    path("prospects/<int:pk>/", views.prospect_detail, name="prospect-detail"),
    path("sequences/", views.sequence_list, name="sequence-list"),
    path("sequences/<int:pk>/", views.sequence_detail, name="sequence-detail"),
    path("sequences/<int:pk>/edit/", views.sequence_edit, name="sequence-edit"),
    path("sequences/<int:pk>/steps/", views.step_add, name="step-add"),
    path("sequences/<int:pk>/enroll/", views.sequence_enroll, name="sequence-enroll"),
    path("enrollments/<int:pk>/stop/", views.enrollment_stop, name="enrollment-stop"),
]
