print("segstream")
