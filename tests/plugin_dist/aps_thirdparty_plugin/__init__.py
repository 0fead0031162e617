"""Plugins of each kind, written the way a third party would write them."""
