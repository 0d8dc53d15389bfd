"""koji builds: profile sessions (session), planned calls (calls), task watching (watch),
task output (download), dependency layers (layers); tasks.py calls api."""
