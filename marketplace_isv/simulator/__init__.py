"""Plays KooGallery: signs and sends requests exactly as koogallery-protocol.md describes
(`client`), and serves a fake KooGallery open API (`fake_openapi`) for local runs and tests."""
