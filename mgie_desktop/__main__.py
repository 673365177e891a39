from mgie_desktop.cli import main

raise SystemExit(main())
