from django.urls import include, path

urlpatterns = [path("celery_progress/", include("celery_progress.urls"))]
