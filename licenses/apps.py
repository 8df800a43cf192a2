from django.apps import AppConfig


class LicensesConfig(AppConfig):
    name = "licenses"
    verbose_name = "Licences"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
