from django.urls import path

from . import views

app_name = "orders"

urlpatterns = [
    path("<str:instance_id>", views.workspace, name="workspace"),
]
