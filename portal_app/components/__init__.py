"""Reusable UI pieces shared by pages."""

from portal_app.components.shell import page_shell

__all__ = ["page_shell"]
