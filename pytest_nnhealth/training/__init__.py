"""The torch side: ``check()``, the seeded training run, its inputs and guards."""
