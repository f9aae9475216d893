"""A manager's commission report: who asks for it (request), the numbers (figures), and
how they read (render). Plain Python and the database, no Celery: the tasks call these."""
