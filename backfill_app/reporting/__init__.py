"""What a run tells the operator: its summary, its progress, the lines it sets aside."""
