"""Files that leave the pipeline: finance's payout files, the draw audit, the public winner list."""
