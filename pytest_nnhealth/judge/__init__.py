"""The judge: measured quantities and thresholds in, findings out (records, hints)."""
