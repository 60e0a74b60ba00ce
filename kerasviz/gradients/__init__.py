"""Gradient-based methods: attribution maps and, later, input optimization."""
