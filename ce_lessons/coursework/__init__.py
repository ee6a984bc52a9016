"""Coursework: ``ce-assign`` writes student notebooks, ``ce-grade`` grades what students hand back.

Both read the chapters' tagged exercise cells (``exercise``, ``solution``, ``self-check``); the
self-checks themselves live in :mod:`ce_lessons.checks`.
"""
