//! Jones web editor: the assets the server embeds and serves.
