"""Probes: one measured quantity per module; see ``base.Probe`` for the life cycle."""
