"""How an image is cut: tiles and their read windows (``tiles``) and the window arithmetic
that tiles, pipelines and streams share (``windows``)."""
