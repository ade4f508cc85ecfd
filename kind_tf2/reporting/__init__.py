"""What the jobs write for people: tables (Markdown, CSV, text, JSON), reports (Markdown + HTML), plots and image grids."""
