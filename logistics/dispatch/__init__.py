"""Dispatch: offer each searching job to the nearest eligible driver, one at a time."""
