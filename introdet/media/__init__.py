"""Media in: probing video files, sampling their frames, listing a library."""
