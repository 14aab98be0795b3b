"""What the offline engine understands, as pure rules: read by the API to refuse early and by the engine to act.

No pixels here (no OpenCV): the API imports these without loading the image providers.
"""
