import sys

from classroom.grade_class import main

sys.exit(main())
