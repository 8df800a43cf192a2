from django.apps import AppConfig


class MarketplaceIsvConfig(AppConfig):
    name = "marketplace_isv"
    verbose_name = "KooGallery protocol"
