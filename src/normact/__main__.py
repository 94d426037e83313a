from normact.cli import main

raise SystemExit(main())
