"""Measures without human scores: severity order and VMAF on held-out ladders (:mod:`.severity`),
the metrics (:mod:`.metrics`), leave-one-family-out (:mod:`.lofo`), backbone selection
(:mod:`.select_backbones`) and the student's model card (:mod:`.model_card`)."""
