from consentry import create_app

app = create_app()
