from titan.cli import main

raise SystemExit(main())
