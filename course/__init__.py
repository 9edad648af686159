"""The course's own tools, for students, instructors and authors: setup, the student's loop (watch,
hint, progress, reset, solution), running a stage by hand, the notebooks' helpers, the lesson
generator, demos. They may use the grader; the code in exercises/ and solutions/ never imports them
(it imports the runtime in `workshop/` only)."""
