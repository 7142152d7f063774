"""Training: cold-start SFT and GRPO on TRL, driven by checklist rewards."""
