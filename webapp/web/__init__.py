"""HTTP plumbing every screen and the API share: headers, templates, errors, upload limits, paging, caching."""
