"""One serializer per area: typed service results -> the JSON of the API and of the CLI."""
