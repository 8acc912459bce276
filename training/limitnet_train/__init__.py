"""Training pipeline for the LimitNet model shipped with gst-limitnet."""
