from django.apps import AppConfig


class TaskopsConfig(AppConfig):
    name = "apps.taskops"
    verbose_name = "Task operations"
