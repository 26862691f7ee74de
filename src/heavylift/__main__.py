from heavylift.cli import main

raise SystemExit(main())
