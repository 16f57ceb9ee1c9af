from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("export/", views.start_export, name="export"),
    path("exports/<uuid:job_id>/", views.export_detail, name="export-detail"),
]
