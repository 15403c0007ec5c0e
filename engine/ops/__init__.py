"""What runs on a tile: filters (``filters``), reducers and statistics, band-math
expressions and custom scripts, with the parameter checks they share (``params``)."""
