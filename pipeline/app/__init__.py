"""The application around the stages: the daemon, jobs and their run records, status, explain,
export, marks."""
