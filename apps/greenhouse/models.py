# Greenhouse models (integration, user mapping, sync records) arrive with the Harvest issue.
