"""The admin of records the code writes and nobody edits: shown, never added, changed or
deleted there, not even by a superuser (each subclass says what its rows guard)."""

from django.contrib import admin


class KeptRecordAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
