"""Process plumbing: the supervisor, local PostgreSQL and Redis servers, logging set-up."""
